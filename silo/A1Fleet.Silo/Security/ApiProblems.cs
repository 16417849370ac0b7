using System.Text.Json;
using Microsoft.AspNetCore.Diagnostics;

namespace A1Fleet.Silo.Security;

/// <summary>
/// Requests the endpoint could not even bind (malformed JSON, a string where a number belongs, a body past the
/// size cap, the wrong content type) answer problem details naming what was wrong, not an empty 400/413/415.
/// </summary>
public sealed class ApiProblems(IProblemDetailsService problems) : IExceptionHandler
{
    /// <summary>Answers the framework makes without a word (a 415 from binding, an unknown route, a wrong method) get one.</summary>
    public static void FillDetail(ProblemDetailsContext context)
    {
        if (context.ProblemDetails.Detail is not null)
        {
            return;
        }

        var request = context.HttpContext.Request;
        context.ProblemDetails.Detail = context.ProblemDetails.Status switch
        {
            StatusCodes.Status415UnsupportedMediaType => $"content type '{request.ContentType}' is not accepted by {request.Method} {request.Path}: send application/json",
            StatusCodes.Status413PayloadTooLarge => "the request body is larger than the API accepts (A1Fleet:Api:MaxRequestBodyBytes)",
            StatusCodes.Status404NotFound => $"no endpoint at {request.Path}",
            StatusCodes.Status405MethodNotAllowed => $"{request.Path} does not accept {request.Method}",
            _ => null,
        };
    }

    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        if (exception is not BadHttpRequestException bad || httpContext.Response.HasStarted)
        {
            return false;
        }

        var detail = bad.StatusCode switch
        {
            StatusCodes.Status413PayloadTooLarge => $"the request body is larger than the {httpContext.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpMaxRequestBodySizeFeature>()?.MaxRequestBodySize} bytes accepted (A1Fleet:Api:MaxRequestBodyBytes)",
            StatusCodes.Status415UnsupportedMediaType => $"content type '{httpContext.Request.ContentType}' is not accepted: send application/json",
            _ => bad.InnerException is JsonException json ? $"{bad.Message} {json.Message}" : bad.Message,
        };
        httpContext.Response.StatusCode = bad.StatusCode;
        return await problems.TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = httpContext,
            Exception = exception,
            ProblemDetails = { Status = bad.StatusCode, Title = bad.StatusCode == 400 ? "Invalid request" : null, Detail = detail },
        });
    }
}
